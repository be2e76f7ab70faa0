#!/usr/bin/env bash
# Static checks of the shipped deployment and Grafana assets. Run from the repository root
# (CI installs promtool first):
#
#   tests/interop/check_assets.sh
#
# Checks: dashboards are valid JSON and every PromQL query in them parses (through promtool);
# every YAML file under deploy/, dashboards/ and rules/ parses (Helm templates excepted: no
# helm here, so they are only checked for balanced actions); the vitals.yaml embedded in the
# manifests and the chart passes `vitals check config` (VITALS_BIN, target/*/vitals or PATH;
# without a binary only its top-level keys are checked); `promtool check rules` and `promtool test rules`
# pass on rules/, every alert there has a severity, summary, description and a runbook_url to
# its own section of docs/runbooks.md, and is unit-tested; the differential suite's rule files
# (tests/promtool/rules/) pass `promtool check rules`; the Dockerfile runs as a non-root user.
# Exits non-zero when any group failed.
set -euo pipefail

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"

fail=0
step() { printf '== %s\n' "$*"; }
bad() { printf 'FAIL: %s\n' "$*" >&2; fail=1; }

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "python3 is required" >&2; exit 2; }
command -v promtool >/dev/null || { echo "promtool is required (apt-get install prometheus)" >&2; exit 2; }

if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
  step "installing PyYAML"
  "$PYTHON" -m pip install --quiet pyyaml \
    || "$PYTHON" -m pip install --quiet --user pyyaml \
    || "$PYTHON" -m pip install --quiet --break-system-packages pyyaml
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- dashboards: JSON ----------------------------------------------------------------------
step "dashboards: JSON"
shopt -s nullglob
dashboards=(dashboards/*.json)
[ ${#dashboards[@]} -gt 0 ] || bad "no dashboards/*.json"
for f in "${dashboards[@]}"; do
  if "$PYTHON" -m json.tool "$f" >/dev/null; then echo "ok   $f"; else bad "$f is not valid JSON"; fi
done

# ---- dashboards: structure, and every query as a PromQL expression --------------------------
step "dashboards: structure and PromQL"
if "$PYTHON" - "$tmp/dashboard_queries.yml" "${dashboards[@]}" <<'PY'
import json, sys, re
out, files = sys.argv[1], sys.argv[2:]
exprs, errors = [], []
# Grafana's variables, replaced by values that keep the expression valid PromQL.
subst = [(r"\$__rate_interval|\$__interval|\$__range", "5m"), (r"\$\{?__[a-z_]+\}?", "1"),
         (r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?", ".*")]
for f in files:
    d = json.load(open(f))
    for key in ("uid", "title", "panels", "templating", "schemaVersion"):
        if key not in d:
            errors.append(f"{f}: missing {key!r}")
    names = {v.get("name") for v in d.get("templating", {}).get("list", [])}
    if "datasource" not in names:
        errors.append(f"{f}: no `datasource` template variable")
    ids, cells = set(), {}
    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))
    for p in walk(d.get("panels", [])):
        title = p.get("title", "?")
        if p.get("id") in ids:
            errors.append(f"{f}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            errors.append(f"{f}: panel {title!r} is wider than the grid")
        for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
            for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                if (x, y) in cells:
                    errors.append(f"{f}: panels {title!r} and {cells[(x, y)]!r} overlap")
                cells[(x, y)] = title
        if p.get("type") != "row":
            ds = p.get("datasource", {})
            if ds.get("uid") != "${datasource}":
                errors.append(f"{f}: panel {title!r} does not use ${{datasource}}")
        for t in p.get("targets", []):
            if t.get("expr"):
                exprs.append((f"{f}: {title} [{t.get('refId')}]", t["expr"]))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"{f}: annotation {a.get('name')}", a["expr"]))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)\s*", q or "")
        if m:
            exprs.append((f"{f}: variable {v.get('name')}", m.group(1)))
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
# One recording rule per query: `promtool check rules` then parses each expression.
with open(out, "w") as fh:
    fh.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (where, e) in enumerate(exprs):
        for pat, rep in subst:
            e = re.sub(pat, rep, e)
        fh.write(f"      # {where}\n      - record: dashboard:query{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(exprs)} queries")
PY
then
  if promtool check rules "$tmp/dashboard_queries.yml" >"$tmp/promql.log" 2>&1; then
    echo "ok   every dashboard query parses as PromQL"
  else
    cat "$tmp/promql.log" >&2
    cat -n "$tmp/dashboard_queries.yml" >&2
    bad "a dashboard query does not parse (see the listing above)"
  fi
else
  bad "dashboard structure"
fi

# ---- YAML manifests and provisioning --------------------------------------------------------
step "YAML: parse"
mkdir -p "$tmp/configs"
"$PYTHON" - "$tmp/configs" <<'PY' || fail=1
import glob, os, sys, yaml
outdir = sys.argv[1]
files = sorted(set(glob.glob("deploy/**/*.yaml", recursive=True) + glob.glob("deploy/**/*.yml", recursive=True)
                   + glob.glob("dashboards/**/*.yaml", recursive=True) + glob.glob("rules/*.yml")))
failed = False
for f in files:
    if "/templates/" in f:
        continue  # Helm templates: Go templates, not YAML until rendered
    try:
        docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        print(f"FAIL: {f}: {e}", file=sys.stderr); failed = True; continue
    problems = []
    for d in docs:
        if f.startswith("deploy/kubernetes/"):
            for k in ("apiVersion", "kind", "metadata"):
                if k not in d:
                    problems.append(f"document without {k}")
            if d.get("metadata", {}).get("namespace"):
                problems.append(f"{d.get('kind')} sets a namespace; manifests are namespace-free")
        # The vitals.yaml files shipped inside manifests and the chart, for `vitals check config`.
        configs = []
        if d.get("kind") == "ConfigMap":
            configs += [(f"{d['metadata']['name']}-{k}", v) for k, v in d.get("data", {}).items()
                        if k.endswith((".yaml", ".yml"))]
        if f.endswith("helm/vitals/values.yaml"):
            app = d.get("sidecarExample", {}).get("app", {})
            sidecar = (d.get("sidecarExample", {}).get("config", "")
                       .replace("{{ .Values.sidecarExample.app.port }}", str(app.get("port", "")))
                       .replace("{{ .Values.sidecarExample.app.healthPath }}", str(app.get("healthPath", ""))))
            configs += [("helm-daemonset.yaml", d.get("config", "")), ("helm-sidecar.yaml", sidecar)]
        for name, text in configs:
            if "{{" in text:
                problems.append(f"{name}: template action left in the vitals config")
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as e:
                problems.append(f"{name}: {e}")
            path = os.path.join(outdir, os.path.basename(f).rsplit(".", 1)[0] + "--" + name)
            open(path, "w").write(text)
    for p in problems:
        print(f"FAIL: {f}: {p}", file=sys.stderr); failed = True
    if not problems:
        print(f"ok   {f} ({len(docs)} document(s))")
sys.exit(1 if failed else 0)
PY

# The embedded vitals configs: validated by vitals itself when a binary is at hand (CI builds
# one), else only their top-level keys are compared with the ones agent/config accepts today.
step "vitals configs in the manifests"
vitals_bin=${VITALS_BIN:-}
for candidate in target/release/vitals target/debug/vitals "$(command -v vitals || true)"; do
  if [ -z "$vitals_bin" ] && [ -n "$candidate" ] && [ -x "$candidate" ]; then vitals_bin=$candidate; fi
done
for cfg in "$tmp"/configs/*; do
  if [ -n "$vitals_bin" ]; then
    if NODE_NAME=node-1 NODE_IP=10.0.0.1 POD_NAME=pod-1 "$vitals_bin" check config "$cfg" >/dev/null 2>"$tmp/check.log"; then
      echo "ok   $(basename "$cfg") (vitals check config)"
    else
      cat "$tmp/check.log" >&2; bad "$(basename "$cfg") is not a valid vitals configuration"
    fi
  else
    if "$PYTHON" - "$cfg" <<'PY'
import sys, yaml
unknown = set(yaml.safe_load(open(sys.argv[1])) or {}) - {"server", "storage", "probes"}
sys.exit(f"unknown top-level keys {sorted(unknown)}" if unknown else 0)
PY
    then echo "ok   $(basename "$cfg") (top-level keys only: no vitals binary)"
    else bad "$(basename "$cfg") has unknown top-level keys"; fi
  fi
done

# ---- Helm chart: no helm here, so only the template actions are checked ---------------------
step "helm chart: template actions balanced (not rendered: no helm)"
"$PYTHON" - <<'PY' || fail=1
import glob, re, sys
failed = False
for f in sorted(glob.glob("deploy/helm/*/templates/*")):
    s = open(f).read()
    depth, ok = 0, s.count("{{") == s.count("}}")
    for a in re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", s, re.S):
        w = (a.split() or [""])[0]
        if w in ("if", "with", "range", "define", "block"):
            depth += 1
        elif w == "end":
            depth -= 1
            ok = ok and depth >= 0
    if not ok or depth != 0:
        print(f"FAIL: {f}: unbalanced template actions", file=sys.stderr); failed = True
    else:
        print(f"ok   {f}")
sys.exit(1 if failed else 0)
PY

# ---- rules ----------------------------------------------------------------------------------
step "rules: promtool check rules"
rule_files=()
for f in rules/*.yml rules/*.yaml; do
  rule_files+=("$f")
done
if [ ${#rule_files[@]} -eq 0 ]; then bad "no rule files in rules/"
elif ! promtool check rules "${rule_files[@]}"; then bad "promtool check rules"; fi

step "rules: promtool test rules"
test_files=(rules/tests/*_test.yml)
if [ ${#test_files[@]} -eq 0 ]; then bad "no rule tests in rules/tests/"
elif ! promtool test rules "${test_files[@]}"; then bad "promtool test rules"; fi

# Every shipped rule file has its unit tests beside it; every alert carries a severity and the
# summary / description / runbook_url annotations, its runbook_url points at its own section
# of docs/runbooks.md, and that section exists; every alert is tested at least once.
step "rules: alert metadata, runbooks and test coverage"
if [ ${#rule_files[@]} -gt 0 ] && ! "$PYTHON" - "${rule_files[@]}" <<'PY'
import os, re, sys, yaml
base = "https://github.com/vitals-dev/vitals/blob/main/docs/runbooks.md#"
runbooks = open("docs/runbooks.md").read() if os.path.exists("docs/runbooks.md") else ""
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.+)$", runbooks, re.M)}
problems, seen = [], {}
for f in sys.argv[1:]:
    test = os.path.join(os.path.dirname(f), "tests", os.path.basename(f).rsplit(".", 1)[0] + "_test.yml")
    if not os.path.exists(test):
        problems.append(f"{f}: no unit tests ({test} is missing)")
        tested = set()
    else:
        t = yaml.safe_load(open(test)) or {}
        tested = {a.get("alertname") for g in t.get("tests", []) for a in g.get("alert_rule_test", [])}
    for g in (yaml.safe_load(open(f)) or {}).get("groups", []):
        for r in g.get("rules", []):
            name = r.get("alert")
            if not name:
                continue
            where = f"{f}: alert {name}"
            if name in seen:
                problems.append(f"{where}: name also used in {seen[name]}")
            seen[name] = f
            if not r.get("labels", {}).get("severity") in ("critical", "warning", "info"):
                problems.append(f"{where}: labels.severity must be critical, warning or info")
            ann = r.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    problems.append(f"{where}: no annotations.{key}")
            if ann.get("runbook_url") and ann["runbook_url"] != base + name.lower():
                problems.append(f"{where}: runbook_url should be {base + name.lower()}")
            if name.lower() not in anchors:
                problems.append(f"{where}: docs/runbooks.md has no section '{name}'")
            if name not in tested:
                problems.append(f"{where}: never tested in {test}")
for p in problems:
    print(f"FAIL: {p}", file=sys.stderr)
print(f"{len(seen)} alerts checked")
sys.exit(1 if problems else 0)
PY
then bad "rules: alert metadata"; fi

# The differential suite's own rule files (tests/promtool/rules/) must be valid too; its
# verdicts against vitals are checked by rules_differential.sh.
step "rules: promtool check rules (differential suite)"
suite_rules=(tests/promtool/rules/*.yml)
if [ ${#suite_rules[@]} -eq 0 ]; then bad "no rule files in tests/promtool/rules/"
elif ! promtool check rules "${suite_rules[@]}" >"$tmp/suite_rules.log" 2>&1; then
  cat "$tmp/suite_rules.log" >&2; bad "promtool check rules tests/promtool/rules/*.yml"
else echo "ok   ${#suite_rules[@]} rule files in tests/promtool/rules/"; fi

# ---- Dockerfile (no hadolint here) ----------------------------------------------------------
step "Dockerfile"
if [ ! -f Dockerfile ]; then
  bad "no Dockerfile"
else
  # The runtime stage is everything after the last FROM.
  runtime=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' Dockerfile)
  user=$(printf '%s' "$runtime" | awk 'toupper($1)=="USER"{u=$2} END{print u}')
  case "$user" in
    "") bad "the runtime stage sets no USER" ;;
    root|0|0:*|root:*) bad "the runtime stage runs as root ($user)" ;;
    *) echo "ok   runtime USER $user" ;;
  esac
  printf '%s' "$runtime" | grep -q '^FROM gcr.io/distroless/cc-debian12:nonroot' \
    || printf '%s' "$runtime" | grep -q '^FROM debian:bookworm-slim' \
    || bad "unexpected runtime base image"
  # distroless has no shell or curl, so there is no HEALTHCHECK; the file must say so.
  if grep -q '^HEALTHCHECK' Dockerfile; then
    bad "HEALTHCHECK in a distroless image cannot run (no shell, no curl)"
  elif ! grep -qi 'no HEALTHCHECK' Dockerfile; then
    bad "the Dockerfile should note why there is no HEALTHCHECK"
  else
    echo "ok   no HEALTHCHECK, with the distroless note"
  fi
  grep -q 'cargo build --release --locked' Dockerfile || bad "the build is not --release --locked"
  grep -q '^ENTRYPOINT \["/usr/local/bin/vitals"\]' Dockerfile || bad "ENTRYPOINT is not /usr/local/bin/vitals"
  grep -q '^EXPOSE .*9470' Dockerfile || bad "port 9470 is not exposed"
  for ignored in target .git; do
    grep -qE "^/?${ignored//./\\.}/?\$" .dockerignore 2>/dev/null || bad ".dockerignore does not exclude $ignored"
  done
  if [ "$fail" -eq 0 ]; then echo "ok   Dockerfile static checks"; fi
fi

if [ "$fail" -ne 0 ]; then
  echo "asset checks FAILED" >&2
  exit 1
fi
echo "all asset checks passed"
