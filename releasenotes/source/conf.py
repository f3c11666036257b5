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

"""Sphinx configuration of the osc-image-task release notes."""

extensions = [
    'openstackdocstheme',
    # The release-notes directive: the notes in releasenotes/notes/, as
    # found in git history.
    'reno.sphinxext',
]

openstackdocs_repo_name = 'x/osc-image-task'
openstackdocs_auto_name = False
# Release notes cover every release, so they carry no version of their own.
openstackdocs_auto_version = False

project = 'osc-image-task release notes'
copyright = 'osc-image-task developers'
version = ''
release = ''

source_suffix = {'.rst': 'restructuredtext'}
root_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
smartquotes = False

html_theme = 'openstackdocs'
html_static_path = ['_static']
templates_path = ['_templates']
