import os, promrw, prometheus_client

url = os.environ.get("PROMRW_URL", "http://127.0.0.1:9090/api/v1/write")
jobs = prometheus_client.Counter("bridge_example_jobs", "Jobs done.")
with promrw.Sender({"remote_write": [{"url": url}]}) as sender:
    # Collects the default registry now, then every 15 s until the block ends.
    with promrw.bridge.collect_from(sender, registry=prometheus_client.REGISTRY, interval=15.0):
        jobs.inc()                              # the application's work
    promrw.bridge.push_registry(sender)         # a last collection: the final values
    sender.flush(timeout=10.0)
    print("samples acked:", sender.stats()["samples_acked"])
