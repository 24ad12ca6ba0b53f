"""Orders: activated CRM orders become SAP sales orders; SAP's number and status come back (``sync``)."""

from mdm.config.sections import OrderSettings
from mdm.orders.status import status_to_crm
from mdm.orders.sync import push_orders, translate

__all__ = ["OrderSettings", "push_orders", "status_to_crm", "translate"]
