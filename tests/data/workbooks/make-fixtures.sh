#!/bin/sh
# Makes the workbook fixtures from onboarding.fods with a real office suite (LibreOffice,
# headless), so the tests read files as Excel users and LibreOffice users have them. The outputs
# are committed: the tests do not need LibreOffice.
#   apt-get install --no-install-recommends libreoffice-calc-nogui
set -eu
cd "$(dirname "$0")"
for format in xlsx ods xls; do
    soffice --headless --calc --convert-to "$format" --outdir . onboarding.fods
done
