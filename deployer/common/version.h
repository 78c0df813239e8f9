/* version.h - shoal's version; the agent protocol version lives in agent docs. */
#ifndef SHOAL_VERSION_H
#define SHOAL_VERSION_H
#define SHOAL_VERSION "0.1.0"
#endif
