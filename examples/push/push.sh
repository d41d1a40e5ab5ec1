# Send the metrics a batch job wrote (Prometheus text format) once, grouped like a
# Pushgateway's job/instance key; exits 0 only when every sample was acknowledged.
promrw push --url "${PROMRW_URL:-http://127.0.0.1:9201/api/v1/write}" \
    --label job=nightly-backup --label instance=db1 examples/push/backup.prom
