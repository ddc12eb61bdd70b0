"""Research output of finished processes: one row per work item (`export`) and a summary (`report`)."""
