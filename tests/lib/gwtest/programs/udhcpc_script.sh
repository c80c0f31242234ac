#!/bin/sh
# SPDX-License-Identifier: MIT
# udhcpc's script (udhcpc -s THIS): the lease's address and router go on
# the interface, nothing else (the stock script would write the host's
# /etc/resolv.conf).  Prints one line per event for the test's log.
echo "udhcpc $1 ip=$ip mask=$mask router=$router"
case $1 in
bound|renew)
	ip addr replace "$ip/${mask:-$subnet}" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	;;
deconfig)
	ip -4 addr flush dev "$interface"
	;;
esac
exit 0
