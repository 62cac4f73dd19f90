# A stand-in for Windows' bcryptprimitives.dll, for running Go's Windows
# test binaries under Debian 12's Wine 8.0, which lacks the DLL. Go's
# runtime (1.22 and later) refuses to start without its one export that Go
# uses, ProcessPrng; this one fills the buffer from advapi32's
# SystemFunction036 (RtlGenRandom), Wine's cryptographic generator. Wine 9
# ships the DLL itself. Built by `make wine-test` with binutils-mingw-w64
# (GNU as syntax); never part of gcptoken.
#
# BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): Windows x64 calling
# convention, pbData in rcx, cbData in rdx. RtlGenRandom takes a ULONG
# length, enough for what Go asks for (the runtime's seeds and crypto/rand
# reads). It always returns TRUE, like the real ProcessPrng.

	.text
	.globl	ProcessPrng
ProcessPrng:
	subq	$40, %rsp			# shadow space and alignment
	call	*__imp_SystemFunction036(%rip)
	movl	$1, %eax
	addq	$40, %rsp
	ret

	.globl	DllEntry
DllEntry:					# DllMain: nothing to set up
	movl	$1, %eax
	ret
