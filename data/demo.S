/*
 * demo.S — `azsim demo`'s narration (demo/demo.py) compiled into the binary, so the command
 * works from any install with nothing but python3 beside it. common/main.c runs it.
 */
    .section .rodata
    .global azsim_demo_script
    .global azsim_demo_script_end
azsim_demo_script:
    .incbin "demo/demo.py"
azsim_demo_script_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
