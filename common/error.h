/*
 * error.h — the project's error codes. Functions in store, token, rbac and the handlers return 0 on
 * success or one of these negative values; `az_strerror` names them for logs.
 */
#ifndef AZSIM_ERROR_H
#define AZSIM_ERROR_H

enum az_err {
    AZ_OK = 0,
    AZ_ENOTFOUND = -1, /* the thing asked for does not exist */
    AZ_EEXIST = -2,    /* it exists already */
    AZ_EINVAL = -3,    /* malformed input */
    AZ_ESTORE = -4,    /* the state store failed (I/O, corruption, busy past the timeout) */
    AZ_EIO = -5,       /* a file or socket operation failed */
    AZ_ETLS = -6,      /* key or certificate handling failed */
    AZ_EVERSION = -7,  /* data written by a newer azsim */
    AZ_EREPLIED = -8,  /* a handler failed and its error reply is already recorded */
    AZ_ECONFLICT = -9, /* a precondition (ETag, lease, state) does not hold */
    AZ_EDENIED = -10,  /* authentication or authorization refused */
};

const char *az_strerror(int err);

#endif
