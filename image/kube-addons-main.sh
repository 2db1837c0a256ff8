#!/bin/bash
# Drop-in for upstream's /opt/kube-addons-main.sh, the program the v9.1.x pod runs:
#   /bin/bash -c "exec /opt/kube-addons-main.sh 1>>/var/log/kube-addon-manager.log 2>&1"
# It runs kube-addons' daemon with the v9.1.8 profile unless KUBE_ADDONS_PROFILE names
# another; every other variable reaches kube-addons unchanged.
export KUBE_ADDONS_PROFILE="${KUBE_ADDONS_PROFILE:-v9.1.8}"
exec "${KUBE_ADDONS_BIN:-/usr/local/bin/kube-addons}" run --loop "$@"
