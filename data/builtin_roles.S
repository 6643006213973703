/*
 * builtin_roles.S — Azure's built-in role definitions (builtin-roles.json: real GUIDs, names and
 * permissions, see builtin-roles.SOURCES.md in the shared data) compiled into the binary, so
 * azsim needs no data files at run time. arm/bootstrap.c loads them into the store.
 */
    .section .rodata
    .global azsim_builtin_roles
    .global azsim_builtin_roles_end
azsim_builtin_roles:
    .incbin "data/builtin-roles.json"
azsim_builtin_roles_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
