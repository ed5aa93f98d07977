#!/bin/sh
# The README's test command (`npm test`): the format check, the type check with the build the CLI
# tests run (`tsc -p tsconfig.json` emits dist/), the lint, and the vitest suite, overlapped so
# that both cores stay busy: the format check and the lint beside the type check (the lint then
# runs into the suite's start, which needs the build; started after the build, it took 34 s of CPU
# from the suite's two workers throughout). Arguments go to vitest (`.ci/run` passes its reporters). Exits with the
# first failure's status, after every part has finished and printed what it found. On a machine
# without a browser, Chromium is installed beside the type check (scripts/ensure-chromium.sh), so
# that the command works with nothing installed first.
sh scripts/ensure-chromium.sh &
browser=$!
prettier --check --cache --log-level warn . &
format=$!
eslint --max-warnings 0 . &
lint=$!
tsc -p tsconfig.json
types=$?
wait "$browser"
if [ "$types" -ne 0 ]; then
  wait "$format"
  wait "$lint"
  exit "$types"
fi
vitest run "$@"
tests=$?
wait "$lint"
linted=$?
wait "$format"
formatted=$?
for status in "$formatted" "$linted" "$tests"; do
  if [ "$status" -ne 0 ]; then exit "$status"; fi
done
exit 0
