"""smtpx.transport"""
