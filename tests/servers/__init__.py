"""Real test servers started by fixtures: aiosmtpd (scripted), Postfix, smtp-sink, proxies."""
