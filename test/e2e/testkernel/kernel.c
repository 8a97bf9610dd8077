/*
 * rackboot e2e test kernel: a multiboot v1 kernel that reports what its boot
 * loader gave it on COM1 and then powers QEMU off through isa-debug-exit.
 *
 * Output, one line each (the Go side parses these, see testkernel.go):
 *
 *   RBK start magic=2badb002
 *   RBK memory lower=<KiB> upper=<KiB>
 *   RBK cmdline: <command line>
 *   RBK modules <count>
 *   RBK module <i> name=<string> size=<bytes> crc32=<8 hex digits>
 *   RBK done
 *
 * crc32 is CRC-32/IEEE (as Go's hash/crc32.ChecksumIEEE) of the module's bytes.
 * Built freestanding with gcc -m32; no libc, no headers.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define MULTIBOOT_LOADER_MAGIC 0x2BADB002u
#define MBI_MEMORY (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4 /* -device isa-debug-exit,iobase=0xf4,iosize=0x04 */
#define EXIT_OK 0x10         /* QEMU exits with (0x10 << 1) | 1 = 33 */
#define EXIT_BAD_LOADER 0x11 /* QEMU exits with 35 */

struct multiboot_info {
	u32 flags;
	u32 mem_lower;
	u32 mem_upper;
	u32 boot_device;
	u32 cmdline;
	u32 mods_count;
	u32 mods_addr;
};

struct multiboot_module {
	u32 mod_start;
	u32 mod_end;
	u32 string;
	u32 reserved;
};

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB on */
	outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
	outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void putc(char c)
{
	while ((inb(COM1 + 5) & 0x20) == 0) /* LSR bit 5: transmit holding register empty */
		;
	outb(COM1, (u8)c);
}

static void puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc('\r');
		putc(*s);
	}
}

static void putdec(u32 v)
{
	char buf[11];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc(buf[--i]);
}

static void puthex8(u32 v)
{
	static const char digits[] = "0123456789abcdef";
	for (int shift = 28; shift >= 0; shift -= 4)
		putc(digits[(v >> shift) & 0xf]);
}

static u32 crc_table[256];

static void crc32_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static u32 crc32(const u8 *p, u32 n)
{
	u32 c = 0xFFFFFFFFu;
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void qemu_exit(u32 code)
{
	outl(DEBUG_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void kmain(u32 magic, const struct multiboot_info *mbi)
{
	serial_init();
	puts("\nRBK start magic=");
	puthex8(magic);
	puts("\n");
	if (magic != MULTIBOOT_LOADER_MAGIC) {
		puts("RBK error: not started by a multiboot loader\n");
		qemu_exit(EXIT_BAD_LOADER);
	}
	if (mbi->flags & MBI_MEMORY) {
		puts("RBK memory lower=");
		putdec(mbi->mem_lower);
		puts(" upper=");
		putdec(mbi->mem_upper);
		puts("\n");
	}
	puts("RBK cmdline: ");
	if (mbi->flags & MBI_CMDLINE)
		puts((const char *)mbi->cmdline);
	puts("\n");

	u32 count = (mbi->flags & MBI_MODS) ? mbi->mods_count : 0;
	puts("RBK modules ");
	putdec(count);
	puts("\n");
	crc32_init();
	const struct multiboot_module *mods = (const struct multiboot_module *)mbi->mods_addr;
	for (u32 i = 0; i < count; i++) {
		const struct multiboot_module *m = &mods[i];
		u32 size = m->mod_end - m->mod_start;
		puts("RBK module ");
		putdec(i);
		puts(" name=");
		puts(m->string ? (const char *)m->string : "");
		puts(" size=");
		putdec(size);
		puts(" crc32=");
		puthex8(crc32((const u8 *)m->mod_start, size));
		puts("\n");
	}
	puts("RBK done\n");
	qemu_exit(EXIT_OK);
}
