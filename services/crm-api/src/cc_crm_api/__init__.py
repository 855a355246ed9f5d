"""CRM API: the public REST API and admin plane that CRMs integrate with."""
