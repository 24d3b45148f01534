"""An SMTP sink for the tests (aiosmtpd): saves each message it receives, as sent, to
OUTDIR/N.eml.

usage: smtp.py PORT OUTDIR
"""
import os
import sys
import time

from aiosmtpd.controller import Controller

port, outdir = int(sys.argv[1]), sys.argv[2]


class Save:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Save.count += 1
        path = os.path.join(outdir, f"{Save.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


controller = Controller(Save(), hostname="127.0.0.1", port=port)
controller.start()
while True:
    time.sleep(3600)
