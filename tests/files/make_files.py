"""Writes the hand-made export files of tests/files/ byte for byte (encodings, delimiters,
line ends and Excel's habits matter here, so they are made, not typed in an editor).

    .venv/bin/python tests/files/make_files.py

tests/test_reading.py checks that the files on disk are still exactly what this writes
(so a checkout that converts line endings is noticed). The participants are invented.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def lines(*rows: str, end: str = "\r\n") -> str:
    return end.join(rows) + end


FILES: dict[str, bytes] = {
    # Castor, current vocabulary, as Castor writes it: ';', CRLF, UTF-8 without BOM,
    # day-first dates with and without zero padding and times, a checkbox variable,
    # Castor's record states (not trial statuses), a user-missing date and number.
    "castor/castor_pump_export.csv": lines(
        "Participant Id;Participant Status;Site Abbreviation;Randomization Id;Randomization Group;Randomized On;"
        "Participant Creation Date;screening_outcome;reden_exclusie#Extrahepatische ziekte;reden_exclusie#CRS boven 2;"
        "reden_exclusie#Patiënt weigert;pomp_datum;cycli;opmerking",
        "110001;Not Set;EMC;R-001;Arm B;6-12-2022 13:38;1-12-2022 9:15;eligible;0;0;0;20-12-2022;6;",
        "110002;Locked;AVL;R-002;Arm A;7-1-2023;3-1-2023 10:02;eligible;0;0;0;;;",
        "110003;Not Set;EMC;;;;15-2-2023 11:45;ineligible;1;1;0;;;",
        "110004;Not Set;AVL;;;;1-3-2023 8:30;declined;0;0;1;;;",
        '110005;Archived;EMC;R-003;Arm B;05-04-2023 14:00;28-03-2023 16:20;eligible;0;0;0;31-12-2999;-99;"zie verslag; MDO"',
    ).encode("utf-8"),
    # Castor, every user-missing code: -95 ... -99 in text and number fields, years
    # 2995 ... 2999 in dates (study variables named like canonical fields).
    "castor/castor_missing_codes.csv": lines(
        "Participant Id;Participant Status;Site Abbreviation;Randomization Group;Randomized On;Participant Creation Date;"
        "consented_on;screening_outcome;screen_fail_reason;pump_implanted_on;cycles_completed",
        "M-01;Not Set;EMC;Arm A;3-5-2023;1-5-2023 9:00;2-5-2023;-95;-96;01-01-2995;-97",
        "M-02;Not Set;EMC;Arm B;4-5-2023;1-5-2023 9:10;31-12-2999;eligible;-98;1-1-2996;-99",
        "M-03;Not Set;NKI;;;2-5-2023 10:00;1-1-2997;-95;;1-1-2998;",
    ).encode("utf-8"),
    # Castor, older vocabulary (Record Id, Institute Abbreviation, Record Creation date),
    # a study without randomisation (the inclusion date is a study variable), opened and
    # re-saved by Dutch Excel: cp1252 (é, ë and an en dash), ';', CRLF, trailing ';;;'
    # columns and an empty last line of separators.
    "castor/castor_old_dutch_excel.csv": lines(
        "Record Id;Record Status;Institute Abbreviation;Record Creation date;inclusie_datum;screening_outcome;screen_fail_reason;;;",
        "PUMP-EMC-014;Locked;ROT;3-4-2021 10:15;12-4-2021;eligible;;;;",
        "PUMP-EMC-015;Not Set;ROT;19-4-2021 9:00;;ineligible;longmetastasen – zie MDO-verslag (géén HAIP);;;",
        "PUMP-AVL-003;Not Set;AVL;2-5-2021 14:30;10-5-2021;eligible;;;;",
        "PUMP-AVL-004;Not Set;AVL;6-5-2021 11:00;;declined;patiënt ziet af van deelname;;;",
        ";;;;;;;;;",
    ).encode("cp1252"),
    # Castor columns re-saved by an English Excel as 'CSV UTF-8': BOM, ',', dd/mm/yyyy,
    # a quoted value with a comma.
    "castor/castor_english_excel.csv": lines(
        "Participant Id,Participant Status,Site Abbreviation,Randomization Group,Randomized On,Participant Creation Date,opmerking",
        '120001,Not Set,NKI,Arm B,09/01/2024,02/01/2024,"pomp geplaatst, robotisch"',
        "120002,Not Set,NKI,Arm A,16/01/2024,10/01/2024,",
    ).encode("utf-8-sig"),
    # Castor, older vocabulary, saved by Excel as tab-delimited text (cp1252).
    "castor/castor_tab.txt": lines(
        "Record Id\tRecord Status\tInstitute Abbreviation\tRecord Creation date\tRandomization Group\tRandomized On",
        "130001\tNot Set\tEMC\t1-2-2020\tcontrole\t10-2-2020",
        "130002\tNot Set\tEMC\t3-2-2020\tpomp\t12-2-2020",
    ).encode("cp1252"),
    # REDCap raw export of a longitudinal project with a repeating form: the record id
    # column is called pump_id, the data access groups are unique names, several rows
    # per participant, a quoted decimal comma and a multi-line quoted value; LF line ends.
    "redcap/redcap_longitudinal.csv": lines(
        "pump_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,"
        "screening_date,screening_outcome,exclusion___1,exclusion___2,exclusion___3,date_enrolled,weight_kg,"
        "comments,screening_complete,pump_implanted_on,treatment_date,treatment_complete,withdrawn_on,"
        "withdrawal_reason,end_of_study_complete",
        'EMC-001,screening_arm_1,,,erasmus_mc,2023-01-10,eligible,0,0,0,2023-01-20,"72,5","Goed gesprek.\nWil meedoen.",2,,,,,,',
        "EMC-001,treatment_arm_1,treatment,1,erasmus_mc,,,,,,,,,,2023-02-01,2023-02-15,2,,,",
        "EMC-001,treatment_arm_1,treatment,2,erasmus_mc,,,,,,,,,,,2023-03-01,2,,,",
        "EMC-001,end_arm_1,,,erasmus_mc,,,,,,,,,,,,,2023-06-01,toxiciteit,2",
        'EMC-002,screening_arm_1,,,erasmus_mc,2023-02-03,ineligible,1,0,1,,"80,1",,2,,,,,,',
        'NKI-001,screening_arm_1,,,nki_avl,2023-03-01,eligible,0,0,0,2023-03-09,"65,0",,2,,,,,,',
        "NKI-001,treatment_arm_1,treatment,1,nki_avl,,,,,,,,,,2023-03-20,2023-04-03,2,,,",
        "NKI-001,treatment_arm_1,treatment,2,nki_avl,,,,,,,,,,,2023-04-17,2,,,",
        "NKI-001,treatment_arm_1,treatment,3,nki_avl,,,,,,,,,,,2023-05-01,0,,,",
        end="\n",
    ).encode("utf-8"),
    # The same kind of project exported with labels: field labels as headers, "Complete?"
    # once per form, checkbox options as "Label (choice=Option)", labels as values.
    "redcap/redcap_labels.csv": lines(
        '"Study ID","Event Name","Repeat Instrument","Repeat Instance","Data Access Group","Screening date",'
        '"Screening outcome","Reason not eligible (choice=Extrahepatic disease)","Reason not eligible (choice=CRS above 2)",'
        '"Complete?","Date of randomisation","Randomisation arm","Complete?"',
        '"EMC-001","Screening (Arm 1: PUMP)","","","Erasmus MC","2023-01-10","Eligible","Unchecked","Unchecked",'
        '"Complete","2023-01-20","Resection + adjuvant HAIP","Complete"',
        '"EMC-002","Screening (Arm 1: PUMP)","","","Erasmus MC","2023-02-03","Ineligible","Checked","Checked",'
        '"Complete","","","Incomplete"',
        '"NKI-001","Screening (Arm 1: PUMP)","","","NKI-AVL","2023-03-01","Eligible","Unchecked","Unchecked",'
        '"Complete","","","Incomplete"',
        '"NKI-001","Randomisation (Arm 1: PUMP)","","","NKI-AVL","","","","","","2023-03-09","Resection alone","Complete"',
    ).encode("utf-8"),
}


def write() -> None:
    for name, data in FILES.items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if __name__ == "__main__":
    write()
