#!/bin/bash
# Decodes a scenario's WAN capture with the daemon's key log:
#
#   integration/decrypt.sh LOGDIR/l2tpd-rs/SCENARIO [tshark arguments...]
#
# LOGDIR is what `run.sh --keep-logs LOGDIR` kept (failing scenarios are kept without it too; run.sh
# prints where). The directory holds wan.pcap and keylog.txt (`l2tpd-rs run --keylog`): lines
# "ikev1_decryption_table: COOKIE,KEY" and "esp_sa: ..." in Wireshark's UAT formats, passed to tshark
# as -o uat:... preferences. Example: decrypt.sh DIR -Y l2tp -V
set -euo pipefail
dir=${1:?usage: decrypt.sh SCENARIO_DIR [tshark arguments...]}
shift
command -v tshark >/dev/null || { echo "tshark is not installed (apt-get install tshark)" >&2; exit 2; }
[ -r "$dir/wan.pcap" ] || { echo "$dir/wan.pcap not found" >&2; exit 2; }
[ -r "$dir/keylog.txt" ] || { echo "$dir/keylog.txt not found (only l2tpd-rs writes one)" >&2; exit 2; }
args=(-o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE)
while IFS= read -r line; do
    case $line in
    "ikev1_decryption_table: "*) args+=(-o "uat:ikev1_decryption_table:${line#ikev1_decryption_table: }") ;;
    "esp_sa: "*) args+=(-o "uat:esp_sa:${line#esp_sa: }") ;;
    esac
done <"$dir/keylog.txt"
exec tshark -n -r "$dir/wan.pcap" "${args[@]}" "$@"
