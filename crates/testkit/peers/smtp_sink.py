"""An SMTP server for ordo's tests (aiosmtpd): every message it accepts is written to a folder
as NNNNNN.eml, numbered in arrival order (written aside, then renamed), after any already there,
so a restarted server goes on numbering. Usage: smtp_sink.py HOST PORT FOLDER"""

import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        numbers = [int(f.split(".")[0]) for f in os.listdir(folder) if f.endswith(".eml")]
        self.next = max(numbers, default=0) + 1
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = self.next
            self.next += 1
        tmp = os.path.join(self.folder, f".{n:06}.tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.folder, f"{n:06}.eml"))
        return "250 Message accepted for delivery"


if __name__ == "__main__":
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname=host, port=port)
    controller.start()
    threading.Event().wait()
