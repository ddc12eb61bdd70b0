#!/bin/sh
# One-shot (temporalio/admin-tools): create the namespace and register yourMoment's search attributes.
# Idempotent: existing ones are left alone. TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE come from compose.
set -eu
NS=${TEMPORAL_NAMESPACE:-default}

until temporal operator cluster health | grep -q SERVING; do
  echo "waiting for the Temporal server at $TEMPORAL_ADDRESS"
  sleep 2
done

if ! temporal operator namespace describe -n "$NS" >/dev/null 2>&1; then
  temporal operator namespace create -n "$NS" --retention "${NAMESPACE_RETENTION:-168h}"
fi

# Keyword attributes the workflows upsert: the Web UI can filter by process without decoding payloads.
for name in YourMomentProcessId YourMomentStatus YourMomentProcessName; do
  tries=0
  until temporal operator search-attribute list --namespace "$NS" 2>/dev/null | grep -qw "$name"; do
    tries=$((tries + 1))
    [ "$tries" -le 30 ] || { echo "search attribute $name could not be registered" >&2; exit 1; }
    temporal operator search-attribute create --namespace "$NS" --name "$name" --type Keyword || true
    sleep 2
  done
  echo "search attribute $name: registered"
done
echo "namespace $NS is ready"
