"""The Streamlit workbench (thin pages over the services) and the `workbench` CLI."""
