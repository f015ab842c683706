#!/usr/bin/env bash
# Opt-ins written by an older revision against this one, on one realistic seed (two syncs each):
# deliveries of "granted" per system, purpose and kind (explicit, or fabricated from an unticked
# box), then this revision's `db reclassify --dry-run` on the older store. Sandboxes on 8751/8752.
set -u
cd "$(dirname "$0")/.."; REPO=$PWD
BIN=$REPO/.venv/bin; OLD_REV=${1:?usage: scripts/compare_optins.sh OLD_REV [CONTACTS]}; CONTACTS=${2:-20000}; OUT=$(mktemp -d); git -C "$REPO" worktree add --detach "$OUT/old-src" "$OLD_REV" >/dev/null
count() {  # $1 = db
  $BIN/python - "$1" <<'PY'
import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
rows = db.execute("""SELECT l.system, d.purpose, d.decision_seq FROM deliveries d JOIN links l ON l.id=d.link_id WHERE d.status='granted'""").fetchall()
ev = {seq: json.loads(e) for seq, e in db.execute("SELECT seq, evidence FROM ledger")}
rules = {seq: r for seq, r in db.execute("SELECT seq, rule FROM ledger")}
out = {}
for system, purpose, seq in rows:
    e = ev.get(seq, {})
    field = (e.get("extra") or {}).get("field")
    kind = "explicit" if (e.get("legal_basis") or field in ("SMS_Consent__c", "sms_consent", "marketing_email", "phone_consent") or str(e.get("source","")).startswith(("manual:", "api:"))) else f"fabricated({field})"
    key = f"{system}/{purpose}/{kind}"
    out[key] = out.get(key, 0) + 1
print(json.dumps(out, indent=1, sort_keys=True))
print("grants in state:", db.execute("SELECT purpose, COUNT(*) FROM consent_state WHERE status='granted' GROUP BY purpose").fetchall())
PY
}
run_side() {  # $1 = name, $2 = PYTHONPATH or empty, $3 = config dir
  rm -rf $OUT/$1; mkdir -p $OUT/$1
  $BIN/consent-sync sandbox --contacts $CONTACTS --seed 7 --state-dir $OUT/$1/sandbox --salesforce-port 8751 --hubspot-port 8752 > $OUT/$1/sandbox.log 2>&1 &
  SB=$!
  for _ in $(seq 1 120); do [ -f $OUT/$1/sandbox/env ] && grep -q "ready\|serving" $OUT/$1/sandbox.log && break; sleep 1; done
  sleep 2
  . $OUT/$1/sandbox/env
  export CONSENT_SYNC_DATABASE_URL=sqlite:///$OUT/$1/store.db
  ( [ -n "$2" ] && export PYTHONPATH=$2; cd $3 && $BIN/consent-sync db upgrade >/dev/null && /usr/bin/time -f "$1 sync 1: %e s" $BIN/consent-sync sync > $OUT/$1/sync1.txt && /usr/bin/time -f "$1 sync 2: %e s" $BIN/consent-sync sync > $OUT/$1/sync2.txt )
  echo "== $1: opt-ins written (deliveries of granted)"; count $OUT/$1/store.db
  kill $SB; wait $SB 2>/dev/null
}
run_side old "$OUT/old-src/src" "$OUT/old-src"
run_side new "" "$REPO"
echo "== new code's reclassify --dry-run on the old store"
cd "$REPO" && CONSENT_SYNC_DATABASE_URL=sqlite:///$OUT/old/store.db $BIN/consent-sync db upgrade > $OUT/upgrade.txt 2>&1; cat $OUT/upgrade.txt
cd "$REPO" && CONSENT_SYNC_DATABASE_URL=sqlite:///$OUT/old/store.db $BIN/consent-sync db reclassify --dry-run 2>&1 | tail -3
git -C "$REPO" worktree remove --force "$OUT/old-src"
