/*
 * Multiboot (version 1) header and entry point of the rackboot e2e test
 * kernel. The loader (iPXE's BIOS build, or QEMU's -kernel) jumps to _start
 * in 32-bit protected mode with EAX = 0x2BADB002 and EBX = the multiboot
 * information structure.
 */
	.set MB_MAGIC, 0x1BADB002
	.set MB_FLAGS, 0x00000003	/* bit 0: page-align modules, bit 1: memory info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .bss
	.align 16
stack_bottom:
	.skip 16384
stack_top:

	.section .text
	.global _start
	.type _start, @function
_start:
	cli
	mov $stack_top, %esp
	push %ebx		/* kmain(magic, info) */
	push %eax
	call kmain
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
