#!/usr/bin/env bash
# Installs what building, testing and benchmarking diskless needs on Debian 12:
# - QEMU and its PXE ROMs (the test bed), pxelinux (the real PXE chain test);
# - musl-tools (ring and the static init), busybox-static (test roots and --shell);
# - cpio, initramfs-tools-core, file, zstd (image checks with Debian's own tools);
# - nfs-ganesha (NFSv3/v4.1 test server), dnsmasq-base and iproute2 (DHCP/DNS in namespaces);
# - initramfs-tools, dracut-core and friends, curl, time, squashfs-tools (the bench's baselines);
# - mmdebstrap (the real Debian root the systemd tests boot; squashfs-tools packs it);
# - minisign (the configuration-archive tests sign with the real tool);
# - docker-registry (the CNCF distribution registry), skopeo and apache2-utils (htpasswd):
#   the root=oci: tests' registries, pushes and Basic logins;
# - nbd-server (the NBD test server the root=nbd: tests run on 127.0.0.1, on a port of their
#   own) and cryptsetup-bin (veritysetup: `cargo xtask verity`'s tests hold its hash tree to
#   veritysetup's byte for byte);
# - chrony (the NTP server the clock tests run on 127.0.0.1, testbed::ntp, on a port of
#   their own; its package replaces systemd-timesyncd as the machine's time daemon);
# - qemu-system-arm, gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (arm64 nodes: the
#   emulator, and the cross compiler ring's C and the link need); the arm64 architecture in
#   dpkg, so that apt-get download fetches arm64's kernel and busybox-static (nothing of it
#   is installed);
# and the Rust musl targets (x86_64 and aarch64).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
    qemu-system-x86 qemu-system-data ipxe-qemu
    musl-tools busybox-static cpio initramfs-tools-core file zstd xz-utils
    ca-certificates dnsmasq-base iproute2
    nfs-ganesha nfs-ganesha-vfs
    initramfs-tools curl time squashfs-tools
    dracut-core dracut-network dracut-live
    pxelinux syslinux-common
    mmdebstrap
    minisign
    docker-registry skopeo apache2-utils
    chrony
    nbd-server cryptsetup-bin
    qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
)

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
# docker-registry enables a registry on :5000 with htpasswd auth where systemd runs; the
# tests start their own on 127.0.0.1 and need none.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi
# nbd-server's package enables a server on port 10809 where systemd runs; the tests start
# their own on 127.0.0.1 and need none.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now nbd-server.service >/dev/null 2>&1 || true
fi
# nfs-ganesha (the test bed's NFS server, testbed::nfs) pulls in rpcbind and enables
# system services: ganesha on port 2049 and rpcbind on 111, on every interface. The test bed
# starts private ganesha instances on 127.0.0.1 and needs neither, so stop them where systemd
# runs, or rpcbind's init script where it does not (a container without a policy-rc.d may
# have started it).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now nfs-ganesha.service nfs-ganesha-lock.service \
        rpcbind.service rpcbind.socket >/dev/null 2>&1 || true
elif [ -x /etc/init.d/rpcbind ]; then
    $SUDO /etc/init.d/rpcbind stop >/dev/null 2>&1 || true
fi
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
