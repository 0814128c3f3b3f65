"""`ofbot doctor`'s SMTP check: the relay reached, its TLS certificate trusted and the login
accepted, as the Mailer will connect."""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib

from bot.doctor.checks import ERROR, OK, TIMEOUT, WARNING, Check
from bot.mail import ehlo_name


class SmtpChecks:
    """The SMTP check of `Doctor` (bot/doctor/__init__.py): it uses its `settings` and `smtp_tls`."""

    async def check_smtp(self) -> list[Check]:
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            # The name the Mailer gives (a relay refusing it refuses every mail).
            local_hostname=await asyncio.to_thread(ehlo_name, s.smtp_host, s.smtp_port),
            use_tls=s.smtp_port == 465,
            start_tls=False,
            timeout=TIMEOUT,
            tls_context=self.smtp_tls or ssl.create_default_context(),
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return [
                Check(
                    "smtp",
                    ERROR,
                    f"cannot connect to {where}: {type(exc).__name__}: {exc}",
                    "check OFBOT_SMTP_HOST and OFBOT_SMTP_PORT, and the firewall",
                )
            ]
        checks = []
        try:
            await smtp.ehlo()
            secure = s.smtp_port == 465
            if not secure and smtp.supports_extension("starttls"):
                try:
                    await smtp.starttls()
                    secure = True
                    await smtp.ehlo()  # extensions offered again after TLS (RFC 3207 §4.2)
                except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"STARTTLS with {where} failed: {exc}",
                            "the relay's certificate must be valid for OFBOT_SMTP_HOST",
                        )
                    ]
            if s.smtp_user:
                if not smtp.supports_extension("auth"):
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"{where} offers no AUTH but OFBOT_SMTP_USER is set",
                            "check the port (587 usually) or unset OFBOT_SMTP_USER",
                        )
                    ]
                try:
                    await smtp.login(s.smtp_user, s.smtp_password or "")
                except aiosmtplib.SMTPAuthenticationError as exc:
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"{where} refuses the login of {s.smtp_user}: {exc.code} {exc.message}",
                            "check OFBOT_SMTP_USER and OFBOT_SMTP_PASSWORD",
                        )
                    ]
            auth = f", logged in as {s.smtp_user}" if s.smtp_user else ", no login"
            if secure:
                checks.append(Check("smtp", OK, f"{where}: TLS{auth}"))
            else:
                checks.append(
                    Check(
                        "smtp",
                        WARNING,
                        f"{where}: no TLS offered, codes travel in clear{auth}",
                        "use a relay with STARTTLS (port 587) or TLS (port 465)",
                    )
                )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return [Check("smtp", ERROR, f"{where}: {type(exc).__name__}: {exc}")]
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
        return checks
