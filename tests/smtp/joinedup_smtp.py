"""An aiosmtpd handler for joinedup's tests: Debian's stock Maildir handler,
except for a few recipient names that make it behave like real servers do
on a bad day, so the tests can see each case handled:

- an address starting with "refuse" gets 550 (refused for good);
- an address starting with "later" gets 451 (try again later);
- a message to an address starting with "slow" is answered only after
  JOINEDUP_SMTP_SLOW_SECONDS (default 20), so a test can stop the sender
  while the message is in the server's hands.

Run as: python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c joinedup_smtp.Picky MAILDIR
"""

import asyncio
import os

from aiosmtpd.handlers import Mailbox


class Picky(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if address.startswith("later"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(float(os.environ.get("JOINEDUP_SMTP_SLOW_SECONDS", "20")))
        return await super().handle_DATA(server, session, envelope)
