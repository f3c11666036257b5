# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Sphinx configuration of the osc-image-task documentation."""

extensions = [
    'openstackdocstheme',
    # autoprogram-cliff: the CLI reference, generated from the parser of
    # the installed command.
    'cliff.sphinxext',
]

# openstackdocstheme reads the project name from setup.cfg and the version
# from pbr (git), and links each page to its source in this repository.
# No bug tracker is set, so the theme shows no "report a bug" link.
openstackdocs_repo_name = 'x/osc-image-task'
openstackdocs_auto_name = True

project = 'osc-image-task'
copyright = 'osc-image-task developers'

# The command is documented as the user types it: "openstack image task
# create", not as the entry point name.
autoprogram_cliff_application = 'openstack'

source_suffix = {'.rst': 'restructuredtext'}
root_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'

# Option help is shown as written: no curly quotes (the help shows the
# single-quoted input style, which must stay copyable) and no "--" turned
# into a dash.
smartquotes = False

html_theme = 'openstackdocs'
