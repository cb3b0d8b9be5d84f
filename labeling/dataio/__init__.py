"""Files in and out: text tables, ratings files, Label Studio JSON, export formats and the
bundled demo content. No database."""
