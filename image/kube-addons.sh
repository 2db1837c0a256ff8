#!/bin/bash
# Drop-in for upstream's /opt/kube-addons.sh, the program the v8.x pod runs:
#   /bin/bash -c "exec /opt/kube-addons.sh 1>>/var/log/kube-addon-manager.log 2>&1"
# It runs kube-addons' daemon with the v8.6 profile unless KUBE_ADDONS_PROFILE names
# another; every other variable reaches kube-addons unchanged. exec keeps one process, so
# the pod's signals go straight to kube-addons.
export KUBE_ADDONS_PROFILE="${KUBE_ADDONS_PROFILE:-v8.6}"
exec "${KUBE_ADDONS_BIN:-/usr/local/bin/kube-addons}" run --loop "$@"
