"""OpenFlyers client-account assistant: a Telegram bot for flying clubs and OpenFlyers staff.

The application package: settings, wiring, HTTP server, command line and business services."""
