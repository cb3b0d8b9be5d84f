"""Every query of the workbench lives here, one module per entity.

Functions take the session by keyword (``session=``) and never commit: the caller's unit of work
(``storage.db.session_scope``) does.
"""
