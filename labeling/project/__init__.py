"""Project records as services: tasks, guidelines and gold, accounts, items and their vectors,
import, export, the overview and the demo project."""
