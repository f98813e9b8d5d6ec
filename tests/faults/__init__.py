"""FAULTS.md items met through the facade (smtpx.SMTP), end to end against real local
servers; docs/faults.md maps every item to its tests."""
