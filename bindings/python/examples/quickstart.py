import os, promrw

url = os.environ.get("PROMRW_URL", "http://127.0.0.1:9090/api/v1/write")
with promrw.Sender({"remote_write": [{"url": url}]}) as sender:
    up = sender.series({"__name__": "up", "job": "quickstart"})
    sender.append(up, 1.0)                      # timestamp: now
    sender.flush(timeout=10.0)                  # everything above is acknowledged
    print("samples acked:", sender.stats()["samples_acked"])
