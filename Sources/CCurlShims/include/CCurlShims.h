#ifndef CCURLSHIMS_H
#define CCURLSHIMS_H

// Typed, non-variadic wrappers around libcurl's variadic functions, which Swift cannot call.
// No logic lives here: each function forwards its arguments unchanged.

#include <curl/curl.h>

typedef size_t (*kcurl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

CURLcode kcurl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode kcurl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode kcurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode kcurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode kcurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode kcurl_easy_setopt_data_callback(CURL *handle, CURLoption option, kcurl_data_callback callback);

CURLcode kcurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode kcurl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value);
CURLcode kcurl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

CURLMcode kcurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

/// The result code of a CURLMSG_DONE message (a union member Swift cannot reach).
CURLcode kcurl_message_result(const CURLMsg *message);

#endif
