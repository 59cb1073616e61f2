"""A test's hands on the IMAP server (Dovecot): put a message into a folder, or count a folder.

python3 imap.py HOST PORT CA_PEM USER PASSWORD append FILE [FOLDER [INTERNALDATE]]
python3 imap.py HOST PORT CA_PEM USER PASSWORD count FOLDER
python3 imap.py HOST PORT CA_PEM USER PASSWORD validity FOLDER

INTERNALDATE as "2025-07-04 10:00 +0800": when the server says it received the message.
"""
import imaplib
import ssl
import sys


def main():
    host, port, ca, user, password, command = sys.argv[1:7]
    context = ssl.create_default_context(cafile=ca)
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=context)
    m.login(user, password)
    if command == "append":
        folder = sys.argv[8] if len(sys.argv) > 8 else "INBOX"
        when = None
        if len(sys.argv) > 9:
            import datetime
            t = datetime.datetime.strptime(sys.argv[9], "%Y-%m-%d %H:%M %z")
            when = imaplib.Time2Internaldate(t)
        with open(sys.argv[7], "rb") as f:
            typ, data = m.append(folder, None, when, f.read())
        assert typ == "OK", data
    elif command == "validity":
        m.select(sys.argv[7], readonly=True)
        print(m.response("UIDVALIDITY")[1][0].decode())
    elif command == "count":
        typ, data = m.select(sys.argv[7], readonly=True)
        print(int(data[0]) if typ == "OK" else -1)
    m.logout()


if __name__ == "__main__":
    main()
