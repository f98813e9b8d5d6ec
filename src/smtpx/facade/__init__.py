"""The facade layer: the reference's SMTP class over the engine (properties, config settings,
events, methods), and what it shares with the asyncio client (``smtpx.aio``)."""
