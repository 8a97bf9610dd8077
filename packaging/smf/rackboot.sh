#!/bin/sh
# SMF start method for svc:/network/rackboot (rackboot.xml): runs
# rackboot serve with the configuration file the service's config/file
# property names. SMF has already set the user and privileges.

# shellcheck disable=SC1091 # illumos' smf_include.sh, present where this runs
. /lib/svc/share/smf_include.sh

prop() {
	svcprop -p "config/$1" "$SMF_FMRI"
}

conf=$(prop file) || exit "$SMF_EXIT_ERR_CONFIG"
bin=$(prop binary) || exit "$SMF_EXIT_ERR_CONFIG"

if [ ! -r "$conf" ]; then
	echo "rackboot: cannot read $conf (config/file)" >&2
	exit "$SMF_EXIT_ERR_CONFIG"
fi
if [ ! -x "$bin" ]; then
	echo "rackboot: $bin (config/binary) is not executable" >&2
	exit "$SMF_EXIT_ERR_CONFIG"
fi

exec "$bin" serve --config "$conf"
