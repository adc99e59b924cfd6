#!/usr/bin/env bash
# Installs what building and testing diskless needs on Debian 12: QEMU (the test bed),
# musl-tools (ring and the static init), busybox-static (test roots and --shell), cpio and
# initramfs-tools-core (image checks with Debian's own unmkinitramfs), and the musl target.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
    qemu-system-x86 qemu-system-data ipxe-qemu
    musl-tools busybox-static cpio initramfs-tools-core file zstd xz-utils
    ca-certificates
)

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
rustup target add x86_64-unknown-linux-musl
