"""smtpx.engine"""
