"""An aiosmtpd handler for joinedup's tests: Debian's stock Maildir handler,
except for a few recipient names that make it behave like real servers do
on a bad day, so the tests can see each case handled:

- an address starting with "refuse" gets 550 (refused for good);
- an address starting with "later" gets 451 (try again later);
- a message to an address starting with "slow" is answered only after
  JOINEDUP_SMTP_SLOW_SECONDS (default 20), so a test can stop the sender
  while the message is in the server's hands.

Run as: python3 joinedup_smtp.py MAILDIR (prints the port it listens on),
or python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c joinedup_smtp.Picky MAILDIR
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


def main():
    """Serves on a port the system picks and prints it as the first line
    of output, so a test never races another process for a "free" port:
    python3 joinedup_smtp.py MAILDIR"""
    import sys

    from aiosmtpd.smtp import SMTP

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Picky(sys.argv[1])
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, loop=loop), host="127.0.0.1", port=0)
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
