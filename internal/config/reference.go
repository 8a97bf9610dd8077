package config

// Reference is every key of the YAML file with an example value and what
// it does: `rackboot serve --help` shows it. Keep it beside the schema.
const Reference = `Configuration file (--config FILE, YAML; flags win over the file; an
unknown key or a bad value is an error that names the key):

  interface: eth1              # the boot network (flag --interface)
  advertise: 10.0.0.5          # address clients reach us on (default: interface's first IPv4)
  data_dir: /var/lib/rackboot  # platforms live in <data_dir>/smartos/<build>/platform/
  http_addr: ":80"             # menu and files
  tftp_addr: ":69"             # iPXE builds, platforms and data_dir/public/ over TFTP
  ipxe_dir: /opt/ipxe          # searched before /usr/lib/ipxe and /usr/share/ipxe
  log_level: info              # debug, info, warn, error
  dhcp:
    mode: proxy                # proxy: answer PXE clients beside your DHCP server
                               # off: never answer DHCP, but still break iPXE chainload
                               #      loops when your DHCP server points at us for TFTP
                               # full: be the network's DHCP server (keys below; only in full mode)
    lease_time: 12h            # default for subnets
    decline_hold: 24h          # quarantine of an address a client declined (found in use)
    ping_check: 300ms          # ping a new address before offering it (0: no ping)
    rogue_detection: true      # warn when another DHCP server answers on the boot network
    cache_threshold: 0.25      # a renewal in the first quarter of a lease is answered with the
                               # lease as it is, without a write (0: write every renewal)
    dns: [10.0.0.53]           # dns, domain, ntp, options: defaults for every subnet
    domain: rack.example
    subnets:                   # the boot network, and networks behind DHCP relays (giaddr)
      - subnet: 10.0.0.0/24
        pools: [10.0.0.100-10.0.0.199]   # ranges or blocks (10.0.0.128/25)
        router: 10.0.0.254
        mtu: 9000
        lease_time: 1h         # renew_time (T1), rebind_time (T2): default 1/2 and 7/8 of it
        options:               # any option by code: text, hex, ips, uint8, uint16, uint32, bool
          - {code: 42, ips: [10.0.0.123]}
        reservations:
          - {mac: "52:54:00:12:34:56", ip: 10.0.0.10, hostname: cn1}
  menu:
    title: rackboot
    timeout: 30s               # a Go duration; 0s boots the default at once, -1s waits forever
    default: smartos           # item id: smartos, smartos-noimport (newest build),
                               # smartos-<build>[-noimport], a target's id, memtest, shell, exit
  smartos:
    console: text              # text, ttya, ttyb, ttyc, ttyd, vga
    # os_console: vga          # os_console=, when the OS console differs
    root_password: s3cret      # hashed at start to SHA-256-crypt for root_shadow
    # root_shadow: '$5$...'    # or give the hash itself
    standalone: false          # standalone=true on every SmartOS item
    kernel_debugger: off       # off; load (unix -k -B ...); boot (-kd: stop in kmdb first)
    mirror: https://us-central.manta.mnx.io/Joyent_Dev/public/SmartOS/  # for "platform import latest"
    boot_args:                 # extra -B pairs, in this order; quote values with commas
      hostname: cn1
      ttyb-mode: '"115200,8,n,1,-"'
  targets:                     # boot targets beside SmartOS, each a menu item; its id works as
                               # menu.default, a rule's default, a machine's default or boot-once.
                               # Files: relative to data_dir (or absolute), served only under
                               # targets/<id>/ by their base names. Exactly one kind per target:
    - id: debian-installer
      title: Debian 12 installer
      linux:                   # BIOS, UEFI; Secure Boot when secure_boot: true
        kernel: os/debian-12/debian-installer/amd64/linux
        initrd: [os/debian-12/debian-installer/amd64/initrd.gz]
        cmdline: "priority=low console=ttyS0,115200"
        secure_boot: true      # signed for the shim and GRUB of secure_boot: below
    - id: rescue-iso
      iso: {file: iso/systemrescue.iso}     # iPXE sanboot over HTTP; BIOS (uefi: true to offer on UEFI)
    - id: netboot-xyz
      chain: {url: "https://boot.netboot.xyz"}   # BIOS, UEFI
    - id: lab-script
      ipxe: {file: scripts/lab.ipxe}        # an iPXE script, linted at start; BIOS, UEFI
    - id: memtest-old
      memtest: {bios: memtest/memtest86+-5.bin}  # x86 BIOS, UEFI
  secure_boot:                 # what machines with Secure Boot on get instead of iPXE (a machine's
                               # secure_boot setting, or a rule's): the distribution's signed chain,
                               # Debian's debian-installer-12-netboot-amd64 by default
    shim: /usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/bootnetx64.efi
    grub: /usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/grubx64.efi
    grub_prefix: debian-installer/amd64/grub   # where that GRUB reads grub.cfg (built into it)
  memtest:
    bios: /boot/memtest86+x64.bin   # Debian's memtest86+ (empty: no memtest item)
    efi: /boot/memtest86+x64.efi
  api:
    open_reads: true           # GET /api/v1/... and the dashboard without the token
  tftp:                        # bounds under a flood of requests (0: the default)
    max_transfers: 2048        # at once; then the oldest whose client never answered is
                               # cancelled, else the request is refused
    max_transfers_per_client: 8
  http:
    max_connections: 2048      # at once; more wait in the kernel's backlog
    max_connections_per_client: 32   # more from one address are closed at once
  ipv6:
    ra: auto                   # auto: answer the IPv6 router solicitations of machines that are
                               #   network-booting with an advertisement that configures nothing
                               #   (lifetime 0, no prefix), so iPXE stops waiting ~13 s for a
                               #   router; silent while a real IPv6 router advertises
                               # off: send no router advertisements
  server:
    name: boot-a               # this server among those sharing one store (default: host name;
                               # flag --name)
  store:
    backend: bolt              # bolt: <data_dir>/rackboot.db, one server (the default)
                               # etcd: several servers share machines, boot-once, labels,
                               #       the platform catalog and the API token
    etcd:                      # only with backend: etcd
      endpoints: [http://10.0.0.11:2379, http://10.0.0.12:2379, http://10.0.0.13:2379]
      prefix: /rackboot/       # several sites or labs on one etcd cluster
      # cert_file, key_file, ca_file: client TLS (https:// endpoints)
      # username, password: when etcd authentication is on
      dial_timeout: 5s
      request_timeout: 5s      # every read and write; then a clear error
  machines:
    rules:                     # group defaults; every match applies in order, a
      - name: rack7            # machine's own settings (rackboot machines set) win
        mac_prefix: "52:54:00" # and/or labels: {rack: "7"}
        default: smartos-noimport   # item id or platform build
        boot_args: {admin_nic: "52:54:00:00:00:01"}
        # root_password, root_shadow: as in smartos
        skip_menu: false       # true boots the default at once
        secure_boot: false     # true: UEFI with Secure Boot on (signed shim and GRUB, not iPXE)
        bmc:                   # BMC defaults (each machine's address: rackboot machines bmc set)
          user: ADMIN
          password_file: /etc/rackboot/bmc-rack7.pass   # mode 0600; no password key in YAML
          interface: lanplus   # IPMI v2.0 (the only one yet)
  bmc:
    timeout: 2s                # one IPMI exchange; then sent again
    retries: 2                 # but a power command goes out once
    parallel: 16               # BMC sessions at once (machines power on many machines)
    os_silent_after: 10m       # a booted kernel whose OS shows nothing this long: "OS silent"`
