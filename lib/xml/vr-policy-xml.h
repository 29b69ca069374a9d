/* The <vr:router> parser: the XML side of the policy model (lib/model/vr-policy.h keeps
 * the model and its JSON form, so the tuner links the model without libxml2). */
#pragma once

#include <stdbool.h>
#include <libxml/tree.h>

#include "vr-policy.h"

/* Read name, type and vCPU count; error if the root is not a libvirt <domain> that
 * virt-router can handle. */
bool vr_domain_read(xmlDoc *doc, const char *what, VrDomain *ret, GError **error);

/* The flavor name Nova wrote into the domain's <nova:instance>, or NULL. */
char *vr_domain_nova_flavor(xmlDoc *doc);

/* Parse the domain's router policy. Returns 1 with *ret set when the domain is a router
 * (own metadata, or a host config rule), 0 with *ret NULL when it is not, -1 on error:
 * the GError lists every problem found, one per line. `what` names the input in
 * messages (a file name or "<stdin>"). */
int vr_policy_parse(xmlDoc *doc, const char *what, const VrHostConf *conf, VrPolicy **ret,
                    GError **error) _must_check_;
