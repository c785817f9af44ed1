# Robustness probe: open N slow connections (partial request headers, then silence), then time a normal request.
import socket, sys, time
port = int(sys.argv[1]); n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
slow = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n"); slow.append(s)
time.sleep(0.3)
t0 = time.time()
c = socket.create_connection(("127.0.0.1", port)); c.settimeout(30)
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    try: d = c.recv(4096)
    except socket.timeout: break
    if not d: break
    data += d
line = data.split(b"\r\n")[0] if data else b"<none>"
print(f"{n} slow connections open: normal request took {(time.time()-t0)*1000:.1f} ms, status line {line}")
