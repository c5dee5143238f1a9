"""Arrow tables as pandas frames, in the dtypes DuckDB's own conversion gives (every engine's reads
come out alike): dates as datetime64[us], whole numbers with gaps nullable, a text column of nothing
but gaps as objects."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

_NULLABLE_INTS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(date_as_object=False)
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_date(field.type) or pa.types.is_timestamp(field.type):
            frame[field.name] = frame[field.name].astype("datetime64[us]")
        elif pa.types.is_integer(field.type) and column.null_count:
            frame[field.name] = column.to_pandas(types_mapper=_NULLABLE_INTS.get)
        elif pa.types.is_string(field.type) and column.null_count == len(column):  # (or no rows)
            frame[field.name] = pd.Series([None] * len(column), index=frame.index, dtype=object)
    return frame
