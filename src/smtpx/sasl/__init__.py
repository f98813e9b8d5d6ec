"""smtpx.sasl"""
