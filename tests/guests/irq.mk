# The interrupt test guest (tests/guests/irq.c, irq.t): built like the
# runtime guests of guests.mk.

IRQ_GUEST_ELF := $(GUEST_BUILD)/irq.elf

guests:: $(IRQ_GUEST_ELF)

$(IRQ_GUEST_ELF): $(GUEST_BUILD)/obj/irq.o $(GUEST_RT_OBJS) $(GUEST_BUILD)/guest.ld
	$(CC) $(GUEST_LDFLAGS) -Wl,-T,$(GUEST_BUILD)/guest.ld -o $@ $(GUEST_RT_OBJS) $<
