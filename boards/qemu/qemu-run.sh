#!/usr/bin/env bash
# Cargo runner for the emulated boards: runs an ELF under qemu-system-arm with
# semihosting (defmt output and the exit code) and -icount shift=0 (SysTick
# then counts instructions), and decodes the defmt stream with defmt-print.
#   QEMU_MACHINE   machine (default: mps2-an386 for thumbv7em ELFs,
#                  mps2-an505 for thumbv8m.main ones; mps2-an500, mps3-an547)
#   QEMU_TIMEOUT   seconds before a hung firmware is killed (exit 124)
# The exit code is the firmware's: 0 only if every output matched.
set -u -o pipefail
elf="$1"; shift
case "$elf" in *thumbv8m.main*) def=mps2-an505 ;; *) def=mps2-an386 ;; esac
timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -machine "${QEMU_MACHINE:-$def}" \
    -nographic -monitor none -semihosting-config enable=on,target=native \
    -icount shift=0,align=off,sleep=off -kernel "$elf" "$@" \
    | defmt-print -e "$elf"
exit "${PIPESTATUS[0]}"
